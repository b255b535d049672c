import { CompiledQuery, type Compilable } from 'kysely';
import type { Db } from './database.ts';

/**
 * A statement compiled once, with distinct sentinel values standing for its parameters, then run
 * with fresh values in the order the compiled text wants them. Kysely builds and compiles a query
 * in tens of microseconds; the writer runs these per token and per scope of every batch.
 */
export function reusable<P extends unknown[]>(build: (db: Db, ...values: P) => Compilable, sentinels: P) {
  let compiled: { sql: string; order: number[] } | undefined;
  return (db: Db, ...values: P) => {
    if (!compiled) {
      const query = build(db, ...sentinels).compile();
      const order = query.parameters.map((p) => sentinels.indexOf(p));
      if (order.includes(-1)) throw new Error('a reusable statement has a parameter that is not one of its sentinels');
      compiled = { sql: query.sql, order };
    }
    const { sql, order } = compiled;
    return db.executeQuery(CompiledQuery.raw(sql, order.map((i) => values[i])));
  };
}

export const sentinel = (name: string) => `\u0000custody:${name}`;

