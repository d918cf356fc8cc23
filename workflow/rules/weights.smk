# Remote weights, fetched once into resources/weights/ by a local rule: on a cluster it runs on
# the submit (login) node, which has internet; compute jobs then load them offline.


REMOTE_WEIGHTS = dict(_remote_weight_specs(config))


localrules:
    fetch_weights,


rule fetch_weights:
    output:
        f"{config['resources']}/weights/{{slug}}.ok",
    wildcard_constraints:
        slug="|".join(REMOTE_WEIGHTS) or "no-remote-weights",
    params:
        python=PYTHON,
        spec=lambda wc: REMOTE_WEIGHTS[wc.slug],
        resources=lambda wc, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/weights/{{slug}}.log",
    priority: Pipeline.FETCH_PRIORITY  # downloads first: a missing weight fails before unrelated jobs take minutes
    conda:
        ENV
    shell:
        # every value quoted by Snakemake (`:q`): the spec comes from config (its pattern admits no shell
        # metacharacters, this is the second guard) and resources may be a path with a space
        "{params.python:q} -m archlab fetch-weights {params.spec:q} --resources {params.resources:q} > {log:q} 2>&1"

