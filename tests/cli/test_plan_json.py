"""`plan --all --json` joins the workers' texts into exactly what json.dumps writes."""

from __future__ import annotations

import json

from redundo.cli.checks import _json_array, _json_text

DOCUMENTS = [
    {
        "stack": "bijouterie-caen",
        "client": "Bijouterie Émile & Fils",
        "cost": {"items": [], "total": 12.5},
        "resources": [{"inputs": {"userData": "#cloud-config\nhostname: a\n", "ports": [80, 443], "tags": {}}}],
    },
    {"stack": "b", "nested": [[], [{}], [1, [2, [3]]]], "none": None, "flag": True},
    {},
]


def test_json_array_matches_json_dumps_of_the_list():
    """The array put together from each document's nested text is what json.dumps writes of the list."""
    items = [_json_text(d, nested=True) for d in DOCUMENTS]
    for count in range(len(DOCUMENTS) + 1):
        assert _json_array(items[:count]) == json.dumps(DOCUMENTS[:count], indent=2, ensure_ascii=False)


def test_json_text_is_json_dumps_with_an_indent():
    for document in DOCUMENTS:
        assert _json_text(document) == json.dumps(document, indent=2, ensure_ascii=False)
