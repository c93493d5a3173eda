import { ApplicationFailure } from '@temporalio/common';

/** The ApplicationFailure a promise rejects with; fails the test if it resolves or throws something else. */
export async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}
