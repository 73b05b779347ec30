#include "cli.h"
int cmd_score(int argc, char **argv) { (void)argc; (void)argv; return 0; }
