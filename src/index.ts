// The package's public API for other TypeScript services: the contract and the client library.
export * from '../workflows/contract';
export * from './client';
