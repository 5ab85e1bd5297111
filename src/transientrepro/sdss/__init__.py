"""SDSS-II SN survey image stamps for ConvEntion: class vocabulary (:mod:`.classes`), on-disk layout
with writer/reader (:mod:`.fitsio`), simulator (:mod:`.simulate`), ingest to flat arrays
(:mod:`.ingest`), the Table 5 training-protocol partition (:mod:`.partition`) and the Table 1 / 5
summaries (:mod:`.summary`)."""
