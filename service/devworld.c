/*
 * devworld.c - see devworld.h.
 */
#include "devworld.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "rpc_client.h"

#define CALL_MS 10000

typedef struct dealer {
    const char *id, *name, *line1, *postal_code, *city, *country, *vat_id;
    const char *contact_name, *email, *phone;
    int64_t messages, media;
} dealer;

static const dealer dealers[] = {
    {"autohaus-schmidt", "Autohaus Schmidt GmbH", "Hauptstrasse 12", "10115", "Berlin", "DE",
     "DE136695976", "Anna Schmidt", "anna.schmidt@autohaus-schmidt.example", "+49 30 1234567",
     14200, 380},
    {"garage-de-vries", "Garage de Vries B.V.", "Oudegracht 41", "3511 AB", "Utrecht", "NL",
     "NL004495445B01", "Pieter de Vries", "pieter@garagedevries.example", "+31 30 2345678",
     3100, 1210},
    {"jean-martin-auto", "Jean Martin", "12 rue de la Gare", "69002", "Lyon", "FR", "",
     "Jean Martin", "jean.martin@example.fr", "+33 4 78 12 34 56", 800, 0},
    {"main-street-motors", "Main Street Motors Inc.", "100 Main Street", "62701", "Springfield",
     "US", "", "Sam Carter", "sam@mainstreetmotors.example", "+1 217 555 0100", 25000, 4000},
};

#define N_DEALERS (sizeof dealers / sizeof dealers[0])

static int unary(mbc_channel_t *ch, const char *method, const char *key,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                 const char *what, mb_error *err)
{
    ProtobufCMessage *resp = NULL;
    mbc_unary(ch, method, key, req, resp_desc, CALL_MS, &resp, err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (err->code != GRPC_STATUS_OK) {
        mb_error_prefix(err, "seeding the dev world: %s", what);
        return -1;
    }
    return 0;
}

void devworld_plan_init(devworld_plan *p, const char *plan_id)
{
    Minbill__V1__Tier *t = p->tiers;
    minbill__v1__tier__init(&t[0]);
    minbill__v1__tier__init(&t[1]);
    t[0].up_to = 10000;
    t[0].unit_price = "0.01";
    t[1].unit_price = "0.005";
    p->tier_list[0] = &t[0];
    p->tier_list[1] = &t[1];
    Minbill__V1__Price *messages = &p->prices[0], *media = &p->prices[1];
    minbill__v1__price__init(messages);
    minbill__v1__price__init(media);
    messages->metric = "messages";
    messages->description = "Messages sent (WhatsApp, SMS, web chat)";
    messages->included_quantity = 1000;
    messages->n_tiers = 2;
    messages->tiers = p->tier_list;
    media->metric = "media";
    media->description = "Media attachments";
    media->unit_price = "0.0025";
    p->price_list[0] = messages;
    p->price_list[1] = media;
    minbill__v1__plan__init(&p->plan);
    /* protobuf-c's string fields are not const; it only reads them here. */
    p->plan.plan_id = (char *)plan_id;
    p->plan.currency = "EUR";
    p->plan.base_fee_minor = 4900;
    p->plan.n_prices = 2;
    p->plan.prices = p->price_list;
}

static int seed_plan(mbc_channel_t *ch, const char *admin, mb_error *err)
{
    devworld_plan p;
    devworld_plan_init(&p, "dealer-pro");
    return unary(ch, "/minbill.v1.Invoicing/UpsertPlan", admin, &p.plan.base,
                 &minbill__v1__plan__descriptor, "the plan", err);
}

static int seed_dealer(mbc_channel_t *ch, const char *platform, const dealer *d, mb_error *err)
{
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = (char *)d->line1;
    addr.postal_code = (char *)d->postal_code;
    addr.city = (char *)d->city;
    addr.country_code = (char *)d->country;
    Minbill__V1__Contact c = MINBILL__V1__CONTACT__INIT, *contacts[] = {&c};
    c.contact_id = "billing";
    c.role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
    c.name = (char *)d->contact_name;
    c.email = (char *)d->email;
    c.phone = (char *)d->phone;
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = (char *)d->id;
    acc.legal_name = (char *)d->name;
    acc.billing_address = &addr;
    acc.vat_id = (char *)d->vat_id;
    acc.currency = "EUR";
    acc.plan_id = "dealer-pro";
    acc.n_contacts = 1;
    acc.contacts = contacts;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    return unary(ch, "/minbill.v1.Accounts/UpsertAccount", platform, &req.base,
                 &minbill__v1__account__descriptor, d->id, err);
}

/* Last month's usage, dated the 10th at noon: inside any acceptance window
 * of at least 62 days. */
static int seed_usage(mbc_channel_t *ch, const char *platform, int64_t now, mb_error *err)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_mon -= 1;
    tm.tm_mday = 10;
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    when.seconds = (int64_t)timegm(&tm);
    Minbill__V1__UsageEvent ev[2 * N_DEALERS], *evp[2 * N_DEALERS];
    char keys[2 * N_DEALERS][64];
    size_t n = 0;
    for (size_t i = 0; i < N_DEALERS; i++)
        for (int m = 0; m < 2; m++) {
            int64_t q = m == 0 ? dealers[i].messages : dealers[i].media;
            if (q == 0)
                continue;
            minbill__v1__usage_event__init(&ev[n]);
            snprintf(keys[n], sizeof keys[n], "dev-seed-%s-%d", dealers[i].id, m);
            ev[n].idempotency_key = keys[n];
            ev[n].account_id = (char *)dealers[i].id;
            ev[n].metric = m == 0 ? "messages" : "media";
            ev[n].quantity = q;
            ev[n].occurred_at = &when;
            evp[n] = &ev[n];
            n++;
        }
    Minbill__V1__RecordUsageRequest req = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    req.n_events = n;
    req.events = evp;
    return unary(ch, "/minbill.v1.Metering/RecordUsage", platform, &req.base,
                 &minbill__v1__record_usage_response__descriptor, "last month's usage", err);
}

int devworld_seed(const char *target, const char *platform_key, const char *admin_key,
                  mb_error *err)
{
    mbc_channel_t *ch = mbc_channel_new(target);
    if (ch == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seeding the dev world: no channel");
    int64_t now = (int64_t)time(NULL);
    int ret = seed_plan(ch, admin_key, err);
    for (size_t i = 0; ret == 0 && i < N_DEALERS; i++)
        ret = seed_dealer(ch, platform_key, &dealers[i], err);
    if (ret == 0)
        ret = seed_usage(ch, platform_key, now, err);
    mbc_channel_free(ch);
    return ret;
}

int devworld_seller_load(seller_config **out, mb_error *err)
{
    char exe[PATH_MAX], path[PATH_MAX + sizeof DEVWORLD_SELLER_FILE];
    *out = NULL;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "--dev: cannot find the minbilld binary: %s", strerror(errno));
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *(slash != NULL ? slash : exe) = '\0';
    snprintf(path, sizeof path, "%s/%s", exe, DEVWORLD_SELLER_FILE);
    if (seller_config_load(path, out, err) != 0) {
        mb_error_prefix(err, "--dev (the example seller; or give --seller-config FILE): ");
        return -1;
    }
    return 0;
}
