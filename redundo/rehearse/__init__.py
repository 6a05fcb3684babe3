"""`redundo rehearse`: a client stack's whole life on real Debian hosts booted on this machine.

The stack program runs unchanged against a local stand-in of the clouds (`cloud`), whose
instances are qemu guests (`vm`) booted from the program's own user data on a cached Debian image
(`image`). The guests reach nothing but the host services forwarded to them (`net`). `scenario`
lives through the disaster step by step.
"""
