export * from './errno.ts';
export * from './ioctl.ts';
export * from './layout.ts';
export * from './structs.ts';
export * from './enums.ts';
export * from './dispatch.ts';
export * from './checks.ts';
