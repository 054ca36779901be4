/* Generated from schema/test.schema.json by scripts/generate-types.mjs. Do not edit. */

/**
 * One call and its expected decision, or a sequence of calls sharing limit state and a clock.
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "TestCase".
 */
export type TestCase = TestCase1 & TestCase2;
export type TestCase1 = {
  [k: string]: unknown | undefined;
};
/**
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "Expectation".
 */
export type Expectation =
  | Effect
  | {
      effect: Effect;
      rule?: string | null;
      reason_contains?: string;
      code?: DecisionCode;
      shadow?: ShadowExpectation;
    };
/**
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "Effect".
 */
export type Effect = 'allow' | 'deny' | 'approval_required' | 'hidden';
/**
 * Why the call was not allowed: the decision's code.
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "DecisionCode".
 */
export type DecisionCode =
  | 'policy.denied'
  | 'rate_limited'
  | 'approval.required'
  | 'approval.denied'
  | 'approval.expired'
  | 'tool.hidden'
  | 'invalid_arguments';
/**
 * The would-be decision of the policy or tool rule in shadow mode (the decision's `shadow`); the call fails when nothing in shadow decided it.
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "ShadowExpectation".
 */
export type ShadowExpectation =
  | Effect
  | {
      effect: Effect;
      rule?: string | null;
      reason_contains?: string;
    };
/**
 * An ISO 8601 time with a zone, e.g. 2026-01-01T00:01:00Z. Sets the clock for this step and the ones after it.
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "Instant".
 */
export type Instant = string;
/**
 * Decide the call as though a granted, unexpired, unused approval for it exists (the same as "approval": "granted").
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "Approved".
 */
export type Approved = boolean;
/**
 * Decide the call as though its approval request was granted (and not used yet), denied by an approver, or expired before anyone granted it.
 *
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "Approval".
 */
export type Approval = 'granted' | 'denied' | 'expired';

/**
 * A Tollgate policy test file (`*.test.json`): calls and the decisions the policy must give them.
 */
export interface PolicyTestFile {
  $schema?: string;
  /**
   * The policy under test, relative to this file. Defaults to policy.json (or policy.yaml) beside it.
   */
  policy?: string;
  cases: TestCase[];
}
export interface TestCase2 {
  name: string;
  call?: TestCall;
  expect?: Expectation;
  at?: Instant;
  approved?: Approved;
  approval?: Approval;
  /**
   * @minItems 1
   */
  sequence?: [TestStep, ...TestStep[]];
}
/**
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "TestCall".
 */
export interface TestCall {
  tool: string;
  args?: {};
  agent?: {
    id: string;
    labels?: {
      [k: string]: string | undefined;
    };
  };
  session?: {
    id: string;
  };
}
/**
 * This interface was referenced by `PolicyTestFile`'s JSON-Schema
 * via the `definition` "TestStep".
 */
export interface TestStep {
  call: TestCall;
  expect: Expectation;
  /**
   * Make the same call this many times, each expecting `expect`.
   */
  repeat?: number;
  at?: Instant;
  approved?: Approved;
  approval?: Approval;
}
