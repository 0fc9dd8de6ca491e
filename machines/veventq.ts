/**
 * VEVENTQ lifecycle (IOMMU_VEVENTQ_ALLOC): a vIOMMU's event queue with a
 * bounded depth; events arrive from the hardware while the fd is open.
 */
import { eventQueueMachine } from './common.ts';

export const veventqMachine = eventQueueMachine('veventq');
