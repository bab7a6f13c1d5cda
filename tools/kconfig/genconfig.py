#!/usr/bin/python3
"""Turn output/<board>/.config into the build's generated files.

    genconfig.py KCONFIG DOTCONFIG OUTDIR

writes OUTDIR/auto.conf      make include: CONFIG_X=value for set symbols
       OUTDIR/include/autoconf.h   #define CONFIG_X for set symbols
       OUTDIR/include/config.h     ENABLE_X 0/1 and IF_X(...) for every bool

Each file is rewritten only when its content changes, so make rebuilds
only what an option really touches. Run with Debian's /usr/bin/python3,
which has python3-kconfiglib.
"""
import os
import sys

import kconfiglib


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    kconfig, dotconfig, outdir = sys.argv[1:4]
    os.makedirs(os.path.join(outdir, "include"), exist_ok=True)
    kconf = kconfiglib.Kconfig(kconfig, warn_to_stderr=True)
    kconf.load_config(dotconfig)

    mk = ["# generated from %s; do not edit" % dotconfig]
    ah = ["/* generated from %s; do not edit */" % dotconfig,
          "#ifndef TERN_AUTOCONF_H", "#define TERN_AUTOCONF_H"]
    ch = ["/* generated from %s; do not edit */" % dotconfig,
          "#ifndef TERN_CONFIG_H", "#define TERN_CONFIG_H",
          '#include "autoconf.h"']
    for sym in sorted(kconf.unique_defined_syms, key=lambda s: s.name):
        val = sym.str_value
        if sym.type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
            on = val == "y"
            if on:
                mk.append("CONFIG_%s=y" % sym.name)
                ah.append("#define CONFIG_%s 1" % sym.name)
            ch.append("#define ENABLE_%s %d" % (sym.name, 1 if on else 0))
            ch.append("#define IF_%s(...) %s" %
                      (sym.name, "__VA_ARGS__" if on else ""))
            ch.append("#define IF_NOT_%s(...) %s" %
                      (sym.name, "" if on else "__VA_ARGS__"))
        elif sym.type == kconfiglib.STRING:
            if sym.visibility or val:
                quoted = kconfiglib.escape(val)
                mk.append('CONFIG_%s="%s"' % (sym.name, quoted))
                ah.append('#define CONFIG_%s "%s"' % (sym.name, quoted))
        elif sym.type in (kconfiglib.INT, kconfiglib.HEX):
            if val:
                mk.append("CONFIG_%s=%s" % (sym.name, val))
                ah.append("#define CONFIG_%s %s" % (sym.name, val))
    ah.append("#endif")
    ch.append("#endif")
    write_if_changed(os.path.join(outdir, "auto.conf"), "\n".join(mk) + "\n")
    write_if_changed(os.path.join(outdir, "include", "autoconf.h"),
                     "\n".join(ah) + "\n")
    write_if_changed(os.path.join(outdir, "include", "config.h"),
                     "\n".join(ch) + "\n")


if __name__ == "__main__":
    main()
