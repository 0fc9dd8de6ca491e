/** Public API of the race explorer. */
export { runScenario, chooserOf, Checker, type Chooser, type RunOptions, type RunResult, type Violation } from './run.ts';
export { explore, mergeResults, compareKeys, resultSignature, type ExploreOptions, type ExploreResult, type StrategyName } from './explorer.ts';
export { exploreParallel } from './pool.ts';
export { Dfs, touches, dependent } from './por.ts';
export { shrink, type ShrinkResult, type Explanation } from './shrink.ts';
export { replayViolation } from './journal.ts';
export { registerInvariant, registerOracle, allInvariants, type Invariant, type CheckView, type Oracle, type CallResult } from './invariants.ts';
export { SCENARIOS, VARIANTS, scenarioByName } from './scenarios.ts';
export { compileCall, parseScenario, scenarioToJson, scenarioSize, type Scenario, type CallOp, type SetupStep } from './scenario.ts';
