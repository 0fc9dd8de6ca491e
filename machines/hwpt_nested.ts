/**
 * HWPT_NESTED lifecycle: a stage-1 domain over a nest-parent HWPT_PAGING or a
 * vIOMMU.  Teardown frees the domain and drops the parent (or vIOMMU) and
 * FAULT references.  Hardware events name it while live.
 */
import { liveObjectMachine } from './common.ts';

export const hwptNestedMachine = liveObjectMachine('hwpt_nested', { events: true });
