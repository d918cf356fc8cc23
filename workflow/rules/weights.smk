# Remote weights, fetched once into resources/weights/ by a local rule: on a cluster it runs on
# the submit (login) node, which has internet; compute jobs then load them offline.

from archlab.models import weights as archlab_weights


def _remote_weight_specs(node):
    """Every remote weights spec named anywhere in the config (what `fetch_weights` may download)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _remote_weight_specs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _remote_weight_specs(value)
    elif isinstance(node, str) and node.split(":", 1)[0] in ("torchvision", "hf", "open_clip"):
        spec = archlab_weights.parse(node)
        yield spec.slug, spec.text


REMOTE_WEIGHTS = dict(_remote_weight_specs(config))


localrules:
    fetch_weights,


rule fetch_weights:
    output:
        f"{config['resources']}/weights/{{slug}}.ok",
    wildcard_constraints:
        slug="|".join(REMOTE_WEIGHTS) or "no-remote-weights",
    params:
        spec=lambda wc: REMOTE_WEIGHTS[wc.slug],
        resources=lambda wc, output: Path(output[0]).parents[1],
    log:
        f"{LOGS}/weights/{{slug}}.log",
    conda:
        ENV
    shell:
        "python -m archlab fetch-weights '{params.spec}' --resources {params.resources} > {log} 2>&1"

