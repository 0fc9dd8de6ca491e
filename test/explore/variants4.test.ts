/**
 * Event-object, unbind-timing and copy-helper variants (spec/bugs.md B03,
 * B08) get the shared checks of variant-suite.ts.
 */
import { variantSuite } from './variant-suite.ts';

variantSuite(4, { find: 120_000, shrink: 120_000, correct: 300_000 });
