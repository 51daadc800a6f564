# The launcher and the reaper are linked static-pie: each run execs both, and a static
# binary skips the dynamic loader (~0.1 ms each) while keeping ASLR.
{
  "targets": [
    {
      "target_name": "renderer_native",
      "sources": ["native/addon.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"]
    },
    {
      "target_name": "renderer-launcher",
      "type": "executable",
      "sources": ["native/launcher.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11", "-fPIE"],
      "ldflags": ["-static-pie"]
    },
    {
      "target_name": "renderer-reaper",
      "type": "executable",
      "sources": ["native/reaper.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11", "-fPIE"],
      "ldflags": ["-static-pie"]
    }
  ]
}
