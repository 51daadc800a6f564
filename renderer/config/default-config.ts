// The configuration `renderer serve` uses when given none: the bundled example steps
// and sample data, loopback only, and a demo schedule every 5 minutes.
import { BUNDLED_DATA_DIR, BUNDLED_STEPS_DIR } from '../paths.js';

export const EMBEDDED_CONFIG = {
  stepsDir: BUNDLED_STEPS_DIR,
  dataRoot: BUNDLED_DATA_DIR,
  server: { host: '127.0.0.1', port: 8080 },
  schedules: [
    {
      name: 'demo-sum',
      cron: '*/5 * * * *',
      workflow: { steps: [{ step: 'example-sum' }], input: 'sample.arrow' },
      outputDir: 'schedules/demo-sum',
      keep: 10,
    },
  ],
};
