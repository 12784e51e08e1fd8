/* SPDX-License-Identifier: MIT */
#ifndef ZC_CLI_H
#define ZC_CLI_H

int zc_cmd_up(int argc, char **argv);
int zc_cmd_down(int argc, char **argv);
int zc_cmd_status(int argc, char **argv);
int zc_cmd_setattr(int argc, char **argv);
int zc_cmd_getattr(int argc, char **argv);

#endif
