/* mcpfed --help-config. */
#ifndef MF_HELP_CONFIG_H
#define MF_HELP_CONFIG_H

#include <stdio.h>

/* Print the kernel's settings tables and those of every plugin in the search directories
 * (mf_plugins_init first); a plugin that cannot be loaded is named on stderr. */
void mf_help_config(FILE *out);

#endif
