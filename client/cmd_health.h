/*
 * cmd_health.h - `minbill health [--service NAME]`: asks
 * grpc.health.v1.Health/Check whether the server (or one of its services)
 * is serving.
 */
#ifndef MB_CMD_HEALTH_H
#define MB_CMD_HEALTH_H

#include "cli.h"

extern const cli_command cmd_health;

#endif
