/* approve.h: what the parts of cx-approve share: how an item is shown
 * (item.c), and the interactive review (review.c). Items are the caller's:
 * nothing here frees them, except approve_item_measured, which consumes its
 * item. approve_action (action.c) reads automation lines. */
#ifndef CX_APPROVE_H
#define CX_APPROVE_H

#include <stdio.h>

#include <jv.h>

#include "store.h"

/* A string field of item, or def. */
const char *approve_str(jv item, const char *key, const char *def);
/* A number field of item, or 0. */
long approve_num(jv item, const char *key);

/* The item as list and show print it: with its length and limit, as its
 * channel counts them. */
jv approve_item_measured(jv item);

/* Writes an item for people: its header lines, its text indented, its
 * length against the limit. */
void approve_print_item(FILE *out, jv item);

/* An action.requested line of enqueue_post (v, not consumed), line lineno
 * of the input: 0 when v is not one (the caller passes it through), 1 when
 * it was queued (*event gets the post.proposed line) or seen before
 * (*event null), -1 with err as cx_queue_enqueue (CX_EXIT_NOPERM when its
 * account is another tenant's) and *problem naming the rule. */
int approve_action(cx_store *s, jv v, long lineno, jv *event, const char **problem,
    cx_err *err);

/* The interactive review of pending items on the terminal tty_fd (opened
 * read-write); returns the exit status. */
int approve_review(cx_store *s, int tty_fd);

#endif
