/* SPDX-License-Identifier: MIT */
#ifndef ZC_CLIENT_H
#define ZC_CLIENT_H

int zc_cmd_mount(int argc, char **argv);

#endif
