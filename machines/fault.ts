/**
 * FAULT lifecycle (IOMMU_FAULT_QUEUE_ALLOC): page-request groups queue here
 * until user space reads them from the fd and writes responses.  Destroy
 * answers every queued or unanswered group INVALID to the hardware.
 */
import { eventQueueMachine } from './common.ts';

export const faultMachine = eventQueueMachine('fault');
