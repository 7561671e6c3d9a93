"""The job runs in a worker process: no Qt here, only the JobContext."""


def greet(params, ctx):
    for i in range(params.times):
        ctx.check_cancelled()
        ctx.log(f"hello, {params.name}! ({i + 1}/{params.times})")
        ctx.metric("greetings", i, i + 1)
        ctx.progress(i + 1, params.times)
    return {"greeted": params.name, "times": params.times}
