"""The back office's payment search (``payments.selectors.payments_search``) over 1,000,000 payments, on PostgreSQL.

    .venv/bin/python -m benchmarks.bench_search [--payments 1000000] [--repeat 20] [--database search_bench]

Set-up, in a fresh database (``search_bench`` unless ``--database``), migrated (so with migration 0014's
indexes), then filled in bulk SQL (``INSERT … SELECT`` over ``generate_series``, never the ORM row by row):
1,000 merchants and N payments, each with

- a card's last four (10,000 values, about N / 10,000 payments each), a processor charge id;
- a customer email for 9 payments in 10 (``customer<k>@<domain>``, 200,000 customers, about 5 payments each,
  mixed case one time in 7) and a name;
- a description of an order number and three words drawn from 40 products, 12 colours and 6 sizes;
- metadata ``{"order_id": "ORD-<i>", "channel": "web"|"app"|"pos"}`` (one order per payment; a channel is a
  third of all payments: the worst case of a value look-up).

Then ``VACUUM (ANALYZE)``, and, timed: what the admin's payments list runs for one search, built by the admin
itself (``PaymentAdmin.get_changelist_instance``): the count of what the search finds and the first page of 50,
newest first, with their merchants. Each term ``--repeat`` times (warm cache); median and 95th percentile.
``EXPLAIN (ANALYZE, BUFFERS)`` of each kind of match looked up alone and of the page (``--plans``): each
lookup reads its index (Bitmap Index Scan), never the whole table; a term with a sequential scan of the payments
anywhere has its plans printed.
"""

import argparse
import statistics
import time

from benchmarks.common import django_on_bench_database, machine, percentile, sql, timed

MERCHANTS = 1_000
CUSTOMERS = 200_000
PRODUCTS = [
    "sweater", "scarf", "jacket", "boots", "gloves", "hat", "shirt", "trousers", "dress", "skirt",
    "socks", "belt", "wallet", "backpack", "umbrella", "watch", "sunglasses", "necklace", "ring", "bracelet",
    "lamp", "chair", "table", "mug", "teapot", "blanket", "pillow", "candle", "vase", "mirror",
    "novel", "atlas", "notebook", "pen", "puzzle", "kite", "ball", "racket", "helmet", "tent",
]  # fmt: skip
COLOURS = ["red", "blue", "green", "black", "white", "grey", "navy", "olive", "pink", "yellow", "brown", "teal"]
SIZES = ["xs", "s", "m", "l", "xl", "xxl"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.test", "shop.test"]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"


def generate(n: int) -> None:
    from django.db import transaction

    from benchmarks.bench_recon import _payment_columns
    from merchants.models import Merchant

    def load():
        with transaction.atomic():
            # Bulk loading: no per-row foreign-key triggers for this session (the data is generated consistent).
            sql("SET LOCAL session_replication_role = replica")
            merchants = Merchant.objects.bulk_create(Merchant(name=f"Bench merchant {k}") for k in range(MERCHANTS))
            sql("CREATE TEMP TABLE bench_map (n int PRIMARY KEY, merchant_id text)")
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO bench_map VALUES (%s, %s)", list(enumerate(m.pk for m in merchants)))
            columns, values, defaults = _payment_columns(
                {
                    "id": "'pay_S' || lpad(i::text, 24, '0')",
                    "merchant_id": "m.merchant_id",
                    "amount": "100 + mod(i::bigint * 7919, 99900)",
                    "currency": "'USD'",
                    "status": "'succeeded'",
                    "capture_method": "'automatic'",
                    "amount_captured": "100 + mod(i::bigint * 7919, 99900)",
                    "payment_method_type": "'card'",
                    "card_token": "'tok_bench'",
                    "card_brand": "'visa'",
                    "card_last4": "lpad(mod(i::bigint * 7919, 10000)::text, 4, '0')",
                    "card_exp_month": "12",
                    "card_exp_year": "2030",
                    "processor_charge_id": "'ch_S' || lpad(i::text, 24, '0')",
                    "processor_attempts": "1",
                    "processor": "'sandbox'",
                    "customer_email": (
                        "CASE WHEN mod(i, 10) = 0 THEN NULL "
                        "WHEN mod(i, 7) = 0 THEN 'Customer' || mod(i, %(customers)s) || '@' "
                        f"|| upper(({_array(DOMAINS)})[1 + mod(i / 3, {len(DOMAINS)})]) "
                        "ELSE 'customer' || mod(i, %(customers)s) || '@' "
                        f"|| ({_array(DOMAINS)})[1 + mod(i / 3, {len(DOMAINS)})] END"
                    ),
                    "customer_name": "CASE WHEN mod(i, 10) = 0 THEN NULL ELSE 'Customer ' || mod(i, %(customers)s) END",
                    "description": (
                        "'Order ' || i || ': ' "
                        f"|| ({_array(PRODUCTS)})[1 + mod(i, {len(PRODUCTS)})] || ', ' "
                        f"|| ({_array(COLOURS)})[1 + mod(i / {len(PRODUCTS)}, {len(COLOURS)})] || ', size ' "
                        f"|| ({_array(SIZES)})[1 + mod(i / 7, {len(SIZES)})]"
                    ),
                    "metadata": (
                        "jsonb_build_object('order_id', 'ORD-' || lpad(i::text, 8, '0'), "
                        "'channel', (ARRAY['web', 'app', 'pos'])[1 + mod(i, 3)])"
                    ),
                    "created": "now() - (i * (31536000.0 / %(n)s)) * interval '1 second'",
                    "updated": "now()",
                }
            )
            sql(
                f"INSERT INTO payments_payment ({columns}) SELECT {values} "
                f"FROM generate_series(1, %(n)s) i JOIN bench_map m ON m.n = mod(i, {MERCHANTS})",
                {**defaults, "n": n, "customers": CUSTOMERS},
            )

    timed(f"generate {MERCHANTS:,} merchants and {n:,} payments (indexes maintained)", load)
    timed(
        "VACUUM (ANALYZE) payments_payment, CHECKPOINT",
        lambda: (sql("VACUUM (ANALYZE) payments_payment"), sql("CHECKPOINT")),
    )


def sizes() -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relname IN ('payments_payment', 'payment_customer_email_lower', 'payment_description_words', "
            "'payment_metadata_values') ORDER BY c.relname"
        )
        return cursor.fetchall()


def terms(n: int) -> list[tuple[str, str]]:
    """What support types, and what each is."""
    middle = n // 2 + 17
    # The email the generation gave payment ``middle`` (see ``generate``), typed in the other case.
    email = f"customer{middle % CUSTOMERS}@{DOMAINS[(middle // 3) % len(DOMAINS)]}"
    email = email.upper() if middle % 7 else email
    return [
        ("payment id", f"pay_S{middle:024d}"),
        ("processor charge id", f"ch_S{middle:024d}"),
        ("card last four (~n/10,000, and order numbers 1881…)", "1881"),
        ("customer email, exact (in the other case)", email),
        ("customer email, prefix (111 customers)", "customer1234"),
        ("order number (a metadata value)", f"ORD-{middle:08d}"),
        ("description words, rare (~n/480)", "teapot navy"),
        ("description word, common (~n/40)", "sweater"),
        ("metadata value, common (a third of all)", "web"),
        ("nothing matches", "nobody@nowhere.test"),
    ]


def changelist(admin, user, term: str):
    """The payments list for ``term``, as the admin builds it: the count, then the page of 50."""
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/payments/payment/", {"q": term})
    request.user = user
    cl = admin.get_changelist_instance(request)  # runs the search and the count
    return cl.result_count, list(cl.result_list)


def explain(admin, user, term: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each kind of match looked up alone (as ``payments_search`` does), then of the
    page the admin shows."""
    from django.db.models.functions import Lower
    from django.test import RequestFactory

    from payments.models import Payment
    from payments.selectors import _bitmap_scans_only, _search_branches

    plans = []
    with _bitmap_scans_only("default"):
        for branch in _search_branches(term, postgres=True):
            lookup = Payment.objects.alias(customer_email_lower=Lower("customer_email")).filter(branch).order_by()
            plans.append(lookup.values_list("pk", flat=True)[:1001].explain(analyze=True, buffers=True))
    request = RequestFactory().get("/admin/payments/payment/", {"q": term})
    request.user = user
    cl = admin.get_changelist_instance(request)
    plans.append(cl.result_list.explain(analyze=True, buffers=True))
    return "\n--\n".join(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run generated")
    parser.add_argument("--database", default="search_bench", help="the database to (re)create and use")
    parser.add_argument("--plans", action="store_true", help="print every term's EXPLAIN (ANALYZE, BUFFERS)")
    args = parser.parse_args()

    django_on_bench_database(args.database, reuse=args.reuse, label="search")
    from django.contrib import admin as django_admin
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from payments.models import Payment

    print(f"machine: {machine()}")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        print(f"PostgreSQL {cursor.fetchone()[0]}, database {args.database}")
    if not args.reuse:
        generate(args.payments)
    for name, size in sizes():
        print(f"  size of {name}: {size}")
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "", None)
    admin = django_admin.site._registry[Payment]

    print(f"\nthe admin's payments list for one search (count + page of 50), {args.repeat} runs each, warm:")
    print(f"  {'term':<52} {'found':>9} {'median':>9} {'p95':>9}")
    for label, term in terms(args.payments):
        changelist(admin, user, term)  # warm
        seconds, found = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            found, _page = changelist(admin, user, term)
            seconds.append(time.perf_counter() - started)
        print(
            f"  {label:<52} {found:>9,} {statistics.median(seconds) * 1000:>7.1f} ms "
            f"{percentile(seconds, 0.95) * 1000:>6.1f} ms   {term!r}"
        )
        plan = explain(admin, user, term)
        if "Seq Scan on payments_payment" in plan:
            print("    !! a sequential scan of the payments:")
            args.plans = True
        if args.plans:
            print("    " + plan.replace("\n", "\n    "))


if __name__ == "__main__":
    main()
