/*
 * cmd_health.c - see cmd_health.h.
 *
 * Prints the serving status by its proto name (SERVING, NOT_SERVING, ...) so
 * scripts can compare it, and exits 0 only for SERVING: `minbill health` is
 * meant to be usable as a readiness probe as it stands.
 */
#include "cmd_health.h"

#include <stdio.h>

#include "cli_rpc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "base/json_out.h"

enum { FLAG_SERVICE };
static const cli_flag health_flags[] = {
    [FLAG_SERVICE] = {"service", "NAME"},
    {NULL, NULL},
};

/* The status's proto name; a value newer than our copy of health.proto is
 * shown as its number rather than guessed at. */
static const char *status_name(int status, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &grpc__health__v1__health_check_response__serving_status__descriptor, status);
    if (v != NULL)
        return v->name;
    snprintf(buf, size, "%d", status);
    return buf;
}

static int health_run(cli_ctx *ctx, const cli_args *args)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    if (args->flag[FLAG_SERVICE] != NULL)
        req.service = (char *)args->flag[FLAG_SERVICE];
    ProtobufCMessage *msg = NULL;
    int rc = cli_rpc_unary(ctx, "/grpc.health.v1.Health/Check", &req.base,
                           &grpc__health__v1__health_check_response__descriptor, &msg);
    if (rc != CLI_OK)
        return rc;
    const Grpc__Health__V1__HealthCheckResponse *resp = (const void *)msg;
    char num[16];
    const char *name = status_name((int)resp->status, num, sizeof num);
    bool serving = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;

    if (ctx->json) {
        json_out j;
        json_out_init(&j, stdout);
        json_out_object_begin(&j);
        json_out_key(&j, "status");
        json_out_string(&j, name);
        json_out_object_end(&j);
        /* A write error is reported by cli_main with the rest of stdout. */
        if (json_out_finish(&j) != 0 && !ferror(stdout))
            rc = cli_fail(ctx, CLI_FAILED, "internal error: incomplete JSON output");
    } else {
        printf("%s\n", name);
    }
    if (rc == CLI_OK && !serving)
        rc = cli_fail(ctx, CLI_FAILED, "the server is %s", name);
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

const cli_command cmd_health = {
    .name = "health",
    .synopsis = "[--service NAME]",
    .summary = "ask the server whether it is serving",
    .help = "Calls grpc.health.v1.Health/Check and prints the serving status: SERVING,\n"
            "NOT_SERVING, ... (with --json: {\"status\":\"SERVING\"}). Sends the API key if one\n"
            "is configured: the check needs none, but a wrong key is refused.\n"
            "\n"
            "  --service NAME  check one service, e.g. minbill.v1.Metering\n"
            "                  (default: the server as a whole)\n"
            "\n"
            "exit status: 0 if SERVING; 1 if not, or if the server refused the check\n"
            "(an unknown service is NOT_FOUND); 3 if it cannot be reached.\n",
    .flags = health_flags,
    .min_args = 0,
    .max_args = 0,
    .run = health_run,
};
