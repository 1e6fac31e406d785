/* data_internal.h - helpers shared by the data module's files. */
#ifndef EB_DATA_INTERNAL_H
#define EB_DATA_INTERNAL_H

#include "edgebert/data.h"

/* The labels as written in the task's files, in the task's label order
 * ("0"/"1" or the NLI names); NULL for STS-B. */
const char *const *eb_task_raw_labels(const eb_task_info *t);

#endif
