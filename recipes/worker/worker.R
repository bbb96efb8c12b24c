# The lambdaparallel worker: runs the envelopes of tasks that lambda_map(), the foreach backend
# (registerDoLambda()) and the future backend (plan(lambdaparallel::lambda)) send. The package
# does the work (lambdaparallel::worker_handler): it checks the caller's R version and that
# every requested package is installed (naming this recipe when one is missing), attaches them,
# evaluates the tasks and returns their values, output, conditions or errors.
# Add the packages your tasks use to [packages] in recipe.toml and re-lock (build.py lock worker).

# The answer is already JSON text: sent as bytes, the runtime passes it on as it is (a string
# would go out as a JSON string).
handle <- function(raw_event, context) {
  charToRaw(lambdaparallel::worker_handler(raw_event, context, recipe = "recipes/worker"))
}
