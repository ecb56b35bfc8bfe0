/* approve.h: what the parts of cx-approve share: how an item is shown to a
 * person, and the interactive review (review.c). Items are the caller's:
 * nothing here frees them. */
#ifndef CX_APPROVE_H
#define CX_APPROVE_H

#include <stdio.h>

#include <jv.h>

#include "store.h"

/* Writes an item for people: its header lines, its text indented, its
 * length against the limit. */
void approve_print_item(FILE *out, jv item);

/* The interactive review of pending items on the terminal tty_fd (opened
 * read-write); returns the exit status. */
int approve_review(cx_store *s, int tty_fd);

#endif
