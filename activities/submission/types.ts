export type * from '../../workflows/submission-types';
