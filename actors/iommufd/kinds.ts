/** Every object type's actor kind (machine + behaviour), for creation and restore. */
import type { ObjectKind } from './object-actor.ts';
import { ioasKind } from './ioas.ts';

export const OBJECT_KINDS: readonly ObjectKind[] = [ioasKind];
