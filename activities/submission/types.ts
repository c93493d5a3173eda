export type * from '../../workflows/shared/submission-activity-types';
import type {
  ResultsActivities,
  SubmissionActivities as SubmissionCalls,
} from '../../workflows/shared/activity-types';

/** What this module implements: the submission workflow's calls and the batch workflow's results calls. */
export type SubmissionActivities = SubmissionCalls & ResultsActivities;
