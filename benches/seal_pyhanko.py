#!/usr/bin/env python3
"""Reference for `cargo bench --bench seal`: the same PAdES B-B seal done by pyHanko, timed
in-process (imports and key loading excluded, like the Rust side).

    python3 benches/seal_pyhanko.py KEY.pem CERT.pem CA.pem RUNS FILE.pdf [FILE.pdf ...]

Prints one line per file: `<file> <mean_ms> <min_ms>`.
"""
import io
import sys
import time

from pyhanko.sign import signers
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter


def main():
    key, cert, ca, runs, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(ca,))
    if signer is None:
        sys.exit("pyHanko could not load the key and certificate")
    for path in files:
        data = open(path, "rb").read()
        times = []
        for run in range(runs):
            start = time.perf_counter()
            writer = IncrementalPdfFileWriter(io.BytesIO(data))
            out = signers.sign_pdf(
                writer,
                signers.PdfSignatureMetadata(field_name=f"Seal{run}", subfilter=SigSeedSubFilter.PADES),
                signer=signer,
                new_field_spec=SigFieldSpec(sig_field_name=f"Seal{run}"),
            )
            out.getvalue()
            times.append((time.perf_counter() - start) * 1000)
        print(f"{path} {sum(times) / len(times):.2f} {min(times):.2f}", flush=True)


if __name__ == "__main__":
    main()
