# The lambdaparallel worker: runs the envelopes of tasks that lambda_map(), the foreach backend
# (registerDoLambda()) and the future backend (plan(lambdaparallel::lambda)) send. The package
# does the work (lambdaparallel::worker_handler): it checks the caller's R version and that
# every requested package is installed (naming this recipe when one is missing), attaches them,
# evaluates the tasks and returns their values, output, conditions or errors.
# Add the packages your tasks use to [packages] in recipe.toml and re-lock (build.py lock worker).

handle <- function(raw_event, context) {
  lambdaparallel::worker_handler(raw_event, context, recipe = "recipes/worker")
}
