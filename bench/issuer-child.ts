/**
 * The local oidc-provider in a process of its own, for the OAuth bench: an issuer is another
 * service, and in the bench's own process it shared the event loop of the Custody it served, so a
 * bulk drain's issuer calls and a single revocation's waited for each other in one queue there
 * (a figure of the bench's set-up, not of Custody). Prints `{ issuer, clientId, clientSecret }`
 * as one JSON line once listening; stops on SIGTERM or when its parent's stdin closes.
 */
import { startTestIssuer } from '../test/support/oidc.ts';

const redirectUris = JSON.parse(process.argv[2] ?? '[]') as string[];
const issuer = await startTestIssuer({ redirectUris });
process.stdout.write(`${JSON.stringify({ issuer: issuer.issuer, clientId: issuer.clientId, clientSecret: issuer.clientSecret })}\n`);
const stop = () => void issuer.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.stdin.on('close', stop);
process.stdin.resume();
