/** Route names used by the call log and by fault targeting. */
export const ROUTE_NAMES = [
  'files.create',
  'files.retrieve',
  'files.content',
  'files.delete',
  'files.list',
  'batches.create',
  'batches.retrieve',
  'batches.list',
  'batches.cancel',
] as const;

export type RouteName = (typeof ROUTE_NAMES)[number];

/** Bare names refer to the batch routes, which are what pollers hammer. */
export type RouteSelector = RouteName | 'create' | 'retrieve' | 'list' | 'cancel';

export function matchesRoute(
  route: string | undefined,
  only: RouteSelector | RouteSelector[] | undefined,
): boolean {
  if (only === undefined) return true;
  if (route === undefined) return false;
  const list = Array.isArray(only) ? only : [only];
  return list.some((sel) => sel === route || `batches.${sel}` === route);
}
