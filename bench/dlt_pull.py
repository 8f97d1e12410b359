"""The dlt baseline (figure 2): dlt's REST API source walks the sandbox's cursor chain into DuckDB.

    python -m bench.dlt_pull --api-base http://127.0.0.1:PORT/v1 --api-key api_... --dir bench/tmp/dlt
Prints ``BENCH-JSON {"rows": N, "seconds": S}``. Run as a subprocess (dlt is a benchmark-only extra).
"""

import argparse
import json
import os
import shutil
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    os.environ["DLT_DATA_DIR"] = os.path.join(args.dir, "data")
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": args.api_base.rstrip("/") + "/",
                "auth": {"type": "bearer", "token": args.api_key},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "metadata.next_cursor",
                    "cursor_param": "cursor",
                },
            },
            "resources": [
                {
                    "name": "customers",
                    "endpoint": {
                        "path": "customers",
                        "params": {"limit": 250, "include": "vip_status"},
                        "data_selector": "customers",
                    },
                    "write_disposition": "replace",
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_smile",
        destination=dlt.destinations.duckdb(os.path.join(args.dir, "bench_pull.duckdb")),
        dataset_name="customers_data",
        pipelines_dir=os.path.join(args.dir, "pipelines"),
    )
    started = time.monotonic()
    pipeline.run(source)
    seconds = time.monotonic() - started
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM customers")[0][0]
    sys.stdout.write(
        "BENCH-JSON " + json.dumps({"rows": rows, "seconds": seconds, "dlt": dlt.__version__}) + "\n"
    )


if __name__ == "__main__":
    main()
