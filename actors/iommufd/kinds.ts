/** Every object type's actor kind (machine + behaviour), for creation and restore. */
import type { ObjectKind } from './object-actor.ts';
import { ioasKind } from './ioas.ts';
import { deviceKind } from './device.ts';
import { hwptNestedKind, hwptPagingKind } from './hw_pagetable.ts';
import { faultKind, veventqKind } from './eventq.ts';
import { vdeviceKind, viommuKind } from './viommu.ts';
import { hwQueueKind } from './hw_queue.ts';
import { accessKind, selftestKind } from './selftest.ts';

export const OBJECT_KINDS: readonly ObjectKind[] = [ioasKind, deviceKind, hwptPagingKind, hwptNestedKind, faultKind, veventqKind, viommuKind, vdeviceKind, hwQueueKind, selftestKind, accessKind];
