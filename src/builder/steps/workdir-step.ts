import type { StageEnv } from "../stage.js";
import { planMkdir } from "../copy.js";
import { resolveIds } from "../users.js";
import { layerFromChanges, withView, type StepInputs, type StepState } from "./common.js";

/** WORKDIR: creates the directory (owned by the USER) when the image lacks it, as BuildKit does. */
export async function workdirStep(state: StepState, env: StageEnv): Promise<StepInputs> {
  const dir = state.container.WorkingDir ?? "/";
  const user = state.container.User;
  return {
    key: { workdir: dir, user: user ?? "" },
    execute: async (scratch: string) =>
      withView(state.layers, env, async (view) => {
        if (await view.isDirectory(dir)) return null;
        const ids = user === undefined || user === "" ? { uid: 0, gid: 0 } : await resolveIds(user, view, `WORKDIR ${dir}`);
        const nowNs = BigInt(env.sourceDateEpoch ?? Math.floor(Date.now() / 1000)) * 1_000_000_000n;
        return layerFromChanges(await planMkdir(dir, ids, view, scratch, nowNs), env);
      }),
  };
}

