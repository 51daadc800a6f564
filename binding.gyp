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
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"]
    },
    {
      "target_name": "renderer-reaper",
      "type": "executable",
      "sources": ["native/reaper.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11"]
    }
  ]
}
