"""SDSS-II SN survey: covering frames -> verified downloads -> 32x32 stamps in the SDSSSTAMP-CUBE layout."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.io import write_json  # noqa: E402
from transientrepro.sdss.archive import download_sdss_dataset  # noqa: E402

inp, a = snakemake.input, snakemake.params.archive  # noqa: F821


def optional(name):
    """A named input given as a (possibly empty) list: its only path, or None."""
    v = getattr(inp, name, None)
    if v is None or isinstance(v, str):
        return v or None
    v = list(v)
    return v[0] if v else None


try:
    summary = download_sdss_dataset(
        snakemake.params.out_dir,  # noqa: F821
        master_path=inp.master,
        smp_path=optional("smp"),
        window_flist=optional("window_flist"),
        frame_list=optional("frame_list"),
        frame_dir=snakemake.params.frame_dir,  # noqa: F821
        cfg=a,
        seed=int(snakemake.params.seed),  # noqa: F821
    )
except Exception:
    log.exception("SDSS download failed")
    raise
log.info("SDSS download summary: %s", summary)
write_json(summary, snakemake.output.summary)  # noqa: F821
