// Dense solves of shap.kernel's weighted least squares and the LARS feature selection: the symmetric solver
// shared with lime (plugin_common/symmetric_solve.hpp). With the default options it is numpy's inv (LU with
// partial pivoting), falling back to pinv (rcond 1e-15) when a pivot vanishes, as shap does; it returns
// false in that case.
#pragma once

#include "plugin_common/symmetric_solve.hpp"

namespace loupe::shap {

using loupe::plugin_common::SolveSymmetric;

}  // namespace loupe::shap
