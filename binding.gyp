# The launcher and the reaper run on every step (two execs of the sandbox's start-up
# chain), so both are linked static-pie: no dynamic loader, ASLR kept. Against musl when
# it is installed (scripts/setup installs musl-tools): glibc's start-up probes the CPU
# with CPUID instructions, each a VM exit on a virtual machine, and an empty static-pie
# glibc program took ~0.4 ms to start here against ~0.15 ms for musl (hyperfine -N,
# 2026-11-24). Without musl
# they are linked against glibc: slower, never less isolated.
{
  "variables": {
    "musl_dir": "/usr/lib/x86_64-linux-musl",
    "musl%": "<!(test -f /usr/lib/x86_64-linux-musl/rcrt1.o && test -d /usr/include/x86_64-linux-musl && echo 1 || echo 0)"
  },
  "target_defaults": {
    "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"],
    "target_conditions": [
      ["_type=='executable'", {
        "cflags": ["-fPIE"],
        "conditions": [
          ["musl==1", {
            "cflags": ["-nostdinc", "-isystem", "/usr/include/x86_64-linux-musl", "-isystem", "<!(gcc -print-file-name=include)"],
            # -nostdlib: musl's own start files around the objects, in the order
            # musl-gcc uses (rcrt1.o: the self-relocating start of a static PIE).
            "ldflags": [
              "-static-pie", "-nostdlib",
              "<(musl_dir)/rcrt1.o", "<(musl_dir)/crti.o", "<!(gcc -print-file-name=crtbeginS.o)"
            ],
            "libraries": [
              "-L<(musl_dir)", "-lc", "<!(gcc -print-libgcc-file-name)",
              "<!(gcc -print-file-name=crtendS.o)", "<(musl_dir)/crtn.o"
            ]
          }, {
            "ldflags": ["-static-pie"]
          }]
        ]
      }]
    ]
  },
  "targets": [
    {
      "target_name": "renderer_native",
      "sources": ["native/addon.c"]
    },
    {
      "target_name": "renderer-launcher",
      "type": "executable",
      "sources": ["native/launcher.c"]
    },
    {
      "target_name": "renderer-reaper",
      "type": "executable",
      "sources": ["native/reaper.c"]
    }
  ]
}
