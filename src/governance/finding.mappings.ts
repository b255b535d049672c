import type { FindingType, FindingSeverity } from './finding.types.ts';

/**
 * What each finding type is evidence of, in the three frameworks auditors ask about, and how
 * severe it is by default. This is the only copy: findings, the API's `mappings`, reports and
 * docs/compliance.md all read it, and finding.mappings.test.ts fails when the docs' table drifts
 * from it. Ids are the frameworks' current ones (OWASP NHI Top 10 2025, CSF 2.0 — PR.AA-05, not
 * CSF 1.1's PR.AC-4 — and AI RMF 1.0); docs/compliance.md explains each choice.
 *
 * Rule kept by the test: a row maps NHI3 (Vulnerable Third-Party NHI) only when the finding is about
 * the customer's grant to us as a third party (its scopes, lifetime, use, revocability, consent,
 * tenancy), and every such row names the customer's supplier-risk outcome (a GV.SC subcategory).
 */
export interface FindingMapping {
  owaspNhi: string[];
  nistCsf: string[];
  nistAiRmf: string[];
}

export const FINDING_MAPPINGS: Record<FindingType, FindingMapping> = {
  unmanaged: { owaspNhi: ['NHI1', 'NHI3'], nistCsf: ['ID.AM-08', 'PR.AA-01', 'PR.AA-05', 'GV.SC-07'], nistAiRmf: ['GOVERN 1.6', 'GOVERN 1.7', 'MANAGE 2.4'] },
  overprivileged: { owaspNhi: ['NHI5', 'NHI3'], nistCsf: ['PR.AA-05', 'GV.SC-07'], nistAiRmf: ['MEASURE 2.4', 'MANAGE 3.1'] },
  unobserved: { owaspNhi: ['NHI2', 'NHI10', 'NHI3'], nistCsf: ['DE.CM-03', 'PR.PS-04', 'ID.AM-03', 'GV.SC-07'], nistAiRmf: ['MEASURE 2.4', 'MANAGE 3.1'] },
  dormant: { owaspNhi: ['NHI1', 'NHI3'], nistCsf: ['PR.AA-05', 'ID.AM-08', 'GV.SC-07'], nistAiRmf: ['GOVERN 1.7', 'MAP 1.4'] },
  review_overdue: { owaspNhi: ['NHI1'], nistCsf: ['PR.AA-05', 'ID.AM-08'], nistAiRmf: ['GOVERN 1.5', 'MAP 1.4'] },
  reauthorization_due: { owaspNhi: ['NHI3'], nistCsf: ['PR.AA-05', 'GV.SC-07'], nistAiRmf: ['MAP 3.5', 'MANAGE 3.1'] },
  no_owner: { owaspNhi: ['NHI1'], nistCsf: ['GV.RR-02', 'PR.AA-01'], nistAiRmf: ['GOVERN 2.1'] },
  owner_orphaned: { owaspNhi: ['NHI1'], nistCsf: ['GV.RR-04', 'GV.RR-02', 'PR.AA-01'], nistAiRmf: ['GOVERN 2.1', 'GOVERN 1.7'] },
  no_approver: { owaspNhi: ['NHI3'], nistCsf: ['PR.AA-05', 'GV.RR-02', 'GV.SC-07'], nistAiRmf: ['MAP 3.5', 'GOVERN 2.1'] },
  approver_inactive: { owaspNhi: ['NHI1', 'NHI3'], nistCsf: ['PR.AA-05', 'GV.RR-02', 'GV.SC-07'], nistAiRmf: ['MAP 3.5', 'GOVERN 2.1'] },
  no_purpose: { owaspNhi: ['NHI1', 'NHI5'], nistCsf: ['ID.AM-02', 'PR.AA-05'], nistAiRmf: ['MAP 1.1', 'MAP 1.4'] },
  long_lived_credential: { owaspNhi: ['NHI7', 'NHI3'], nistCsf: ['PR.AA-01', 'GV.SC-07'], nistAiRmf: ['MEASURE 2.7'] },
  no_revocation_path: { owaspNhi: ['NHI1', 'NHI3'], nistCsf: ['RS.MI-01', 'PR.AA-01', 'GV.SC-10'], nistAiRmf: ['MANAGE 2.4', 'GOVERN 1.7'] },
  revocation_unverified: { owaspNhi: ['NHI1', 'NHI3'], nistCsf: ['RS.MI-01', 'GV.SC-10'], nistAiRmf: ['MANAGE 2.4', 'MEASURE 1.2'] },
  forbidden_scope: { owaspNhi: ['NHI5', 'NHI3'], nistCsf: ['PR.AA-05', 'GV.SC-07'], nistAiRmf: ['MANAGE 3.1'] },
  shared_token: { owaspNhi: ['NHI9', 'NHI3'], nistCsf: ['PR.AA-01', 'PR.AA-05', 'PR.IR-01', 'GV.SC-07'], nistAiRmf: ['MEASURE 2.7'] },
  unknown_workload: { owaspNhi: ['NHI1'], nistCsf: ['ID.AM-02', 'PR.AA-01'], nistAiRmf: ['GOVERN 1.6'] },
  excess_grant: { owaspNhi: ['NHI5', 'NHI3'], nistCsf: ['PR.AA-05', 'GV.SC-07'], nistAiRmf: ['MANAGE 3.1'] },
  scope_narrowed: { owaspNhi: ['NHI5'], nistCsf: ['PR.AA-05'], nistAiRmf: ['MEASURE 2.4'] },
};

/**
 * Critical is kept for the one finding that needs no judgement: the operator's own policy already
 * says the scope must not be held. High: the token cannot be cut off, or nobody accountable remains
 * on one side. Low: a missing proof or a visibility gap whose consequence the unmanaged finding on
 * the same token already carries.
 */
export const DEFAULT_SEVERITY: Record<FindingType, FindingSeverity> = {
  unmanaged: 'high',
  overprivileged: 'medium',
  unobserved: 'low',
  dormant: 'medium',
  review_overdue: 'medium',
  reauthorization_due: 'medium',
  no_owner: 'medium',
  owner_orphaned: 'high',
  no_approver: 'medium',
  approver_inactive: 'high',
  no_purpose: 'medium',
  long_lived_credential: 'medium',
  no_revocation_path: 'high',
  revocation_unverified: 'low',
  forbidden_scope: 'critical',
  shared_token: 'medium',
  unknown_workload: 'medium',
  excess_grant: 'medium',
  scope_narrowed: 'low',
};

/** OWASP Top 10 Non-Human Identities Risks – 2025 (owasp.org/www-project-non-human-identities-top-10). */
export const OWASP_NHI_2025: Record<string, string> = {
  NHI1: 'Improper Offboarding',
  NHI2: 'Secret Leakage',
  NHI3: 'Vulnerable Third-Party NHI',
  NHI4: 'Insecure Authentication',
  NHI5: 'Overprivileged NHI',
  NHI6: 'Insecure Cloud Deployment Configurations',
  NHI7: 'Long-Lived Secrets',
  NHI8: 'Environment Isolation',
  NHI9: 'NHI Reuse',
  NHI10: 'Human Use of NHI',
};

/** NIST Cybersecurity Framework 2.0 (NIST CSWP 29, February 2024): the subcategories used above, in NIST's words. */
export const NIST_CSF_2: Record<string, string> = {
  'GV.RR-02': 'Roles, responsibilities, and authorities related to cybersecurity risk management are established, communicated, understood, and enforced',
  'GV.RR-04': 'Cybersecurity is included in human resources practices',
  'GV.SC-07': 'The risks posed by a supplier, their products and services, and other third parties are understood, recorded, prioritized, assessed, responded to, and monitored over the course of the relationship',
  'GV.SC-10': 'Cybersecurity supply chain risk management plans include provisions for activities that occur after the conclusion of a partnership or service agreement',
  'ID.AM-02': 'Inventories of software, services, and systems managed by the organization are maintained',
  'ID.AM-03': 'Representations of the organization\'s authorized network communication and internal and external network data flows are maintained',
  'ID.AM-08': 'Systems, hardware, software, services, and data are managed throughout their life cycles',
  'PR.AA-01': 'Identities and credentials for authorized users, services, and hardware are managed by the organization',
  'PR.AA-05': 'Access permissions, entitlements, and authorizations are defined in a policy, managed, enforced, and reviewed, and incorporate the principles of least privilege and separation of duties',
  'PR.IR-01': 'Networks and environments are protected from unauthorized logical access and usage',
  'PR.PS-04': 'Log records are generated and made available for continuous monitoring',
  'DE.CM-03': 'Personnel activity and technology usage are monitored to find potentially adverse events',
  'RS.MI-01': 'Incidents are contained',
};

/**
 * NIST AI Risk Management Framework 1.0 (NIST AI 100-1, January 2023): the subcategories used above
 * ('GOVERN 1' is the category, 'GOVERN 1.6' its subcategory), in NIST's words.
 */
export const NIST_AI_RMF: Record<string, string> = {
  'GOVERN 1.5': 'Ongoing monitoring and periodic review of the risk management process and its outcomes are planned and organizational roles and responsibilities clearly defined, including determining the frequency of periodic review',
  'GOVERN 1.6': 'Mechanisms are in place to inventory AI systems and are resourced according to organizational risk priorities',
  'GOVERN 1.7': 'Processes and procedures are in place for decommissioning and phasing out AI systems safely and in a manner that does not increase risks or decrease the organization\'s trustworthiness',
  'GOVERN 2.1': 'Roles and responsibilities and lines of communication related to mapping, measuring, and managing AI risks are documented and are clear to individuals and teams throughout the organization',
  'MAP 1.1': 'Intended purposes, potentially beneficial uses, context-specific laws, norms and expectations, and prospective settings in which the AI system will be deployed are understood and documented',
  'MAP 1.4': 'The business value or context of business use has been clearly defined or – in the case of assessing existing AI systems – re-evaluated',
  'MAP 3.5': 'Processes for human oversight are defined, assessed, and documented in accordance with organizational policies from the GOVERN function',
  'MEASURE 1.2': 'Appropriateness of AI metrics and effectiveness of existing controls are regularly assessed and updated, including reports of errors and potential impacts on affected communities',
  'MEASURE 2.4': 'The functionality and behavior of the AI system and its components – as identified in the MAP function – are monitored when in production',
  'MEASURE 2.7': 'AI system security and resilience – as identified in the MAP function – are evaluated and documented',
  'MANAGE 2.4': 'Mechanisms are in place and applied, and responsibilities are assigned and understood, to supersede, disengage, or deactivate AI systems that demonstrate performance or outcomes inconsistent with intended use',
  'MANAGE 3.1': 'AI risks and benefits from third-party resources are regularly monitored, and risk controls are applied and documented',
};
