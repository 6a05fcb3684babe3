"""`plan --all --json` joins the workers' texts into exactly what json.dumps writes."""

from __future__ import annotations

import json

from redundo.cli.checks import _json_array

DOCUMENTS = [
    {"stack": "bijouterie-caen", "client": "Bijouterie Émile & Fils", "cost": {"items": [], "total": 12.5},
     "resources": [{"inputs": {"userData": "#cloud-config\nhostname: a\n", "ports": [80, 443], "tags": {}}}]},
    {"stack": "b", "nested": [[], [{}], [1, [2, [3]]]], "none": None, "flag": True},
    {},
]


def test_json_array_matches_json_dumps_of_the_list():
    texts = [json.dumps(d, indent=2, ensure_ascii=False) for d in DOCUMENTS]
    for count in range(len(DOCUMENTS) + 1):
        assert _json_array(texts[:count]) == json.dumps(DOCUMENTS[:count], indent=2, ensure_ascii=False)
