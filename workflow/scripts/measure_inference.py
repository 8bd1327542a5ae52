"""Rule measure_inference: what one network (model block, data set, device,
evaluation batch size) costs at inference, once, for every run of it to share."""

from pathlib import Path

from cnncompare.logs import setup_logging
from cnncompare.train.inference_cost import measure_network

setup_logging(snakemake.log[0])
measure_network(
    data_dir=Path(snakemake.input.test).parent,
    block=snakemake.params.model,
    device_setting=snakemake.params.device,
    # The evaluation's threads: the figures are the evaluation's. The job's own
    # claim (snakemake.threads) may be every core, to keep other jobs off them.
    threads=snakemake.params.threads,
    output_path=snakemake.output.cost,
    performance=snakemake.params.performance,
    cores_claimed=snakemake.threads,
    alone=bool(snakemake.resources["alone"]),
    runs_per_gpu=int(snakemake.resources["runs_per_gpu"]),
    throughput_seconds=snakemake.params.timing["throughput_seconds"],
)
