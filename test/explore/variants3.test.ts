/**
 * Auto-HWPT creation and fault-queue race variants (spec/bugs.md B05, B07)
 * get the shared checks of variant-suite.ts, with longer timeouts for
 * their larger budgets.
 */
import { variantSuite } from './variant-suite.ts';

variantSuite(3, { find: 120_000, shrink: 120_000, correct: 300_000 });
