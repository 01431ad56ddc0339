"""The process exit codes of every command (README, "Verdicts and exit codes"): one home.

``run``: CONFORMANT 0, NOT CONFORMANT 1, usage error 2, UNREACHABLE 3, INCOMPLETE 4, INTERRUPTED 130.
The other commands keep the same shape: 0 the good answer, 1 the bad answer, 2 a usage error.
"""

from conformance.model.verdict import RunVerdict

EXIT_OK = 0
EXIT_FAILED = 1  # NOT CONFORMANT, a finding on replay, an invalid document or bundle, a regression
EXIT_USAGE = 2  # a usage or config error, or the environment's: a report file that could not be written
EXIT_UNREACHABLE = 3
EXIT_INCOMPLETE = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE

VERDICT_EXIT_CODES = {
    RunVerdict.CONFORMANT: EXIT_OK,
    RunVerdict.NOT_CONFORMANT: EXIT_FAILED,
    RunVerdict.UNREACHABLE: EXIT_UNREACHABLE,
    RunVerdict.INCOMPLETE: EXIT_INCOMPLETE,
    RunVerdict.INTERRUPTED: EXIT_INTERRUPTED,
}
