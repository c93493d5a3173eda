// The package's public API for other TypeScript services: the contract and the client library.
export * from '../workflows/messages';
export { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
export * from './client';
