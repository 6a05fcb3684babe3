"""The CrossGuard entry point: `pulumi preview --policy-pack policies`. Only this file builds the pack."""

from pulumi_policy import PolicyPack
from redundo.policies.rules import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES)
