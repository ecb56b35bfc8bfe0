/* exit.h: the exit statuses every cx tool uses (SPEC §4, sysexits values). */
#ifndef CX_EXIT_H
#define CX_EXIT_H

enum {
	CX_EXIT_OK = 0,         /* all good */
	CX_EXIT_SOME_FAILED = 1, /* some items failed; details on stderr */
	CX_EXIT_USAGE = 64,     /* bad command line */
	CX_EXIT_DATAERR = 65,   /* bad input data */
	CX_EXIT_UNAVAILABLE = 69, /* upstream unavailable */
	CX_EXIT_TEMPFAIL = 75,  /* temporary failure, retry later */
	CX_EXIT_NOPERM = 77,    /* not permitted: governance, roles, signatures */
	CX_EXIT_CONFIG = 78,    /* configuration error */
};

#endif
