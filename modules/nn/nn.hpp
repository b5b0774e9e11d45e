#pragma once
/// \file modules/nn/nn.hpp
/// \brief One include for the neural-network modules: `nn::Module`, the layers, `Sequential`,
/// `MLP`, `nn::init`, the losses and checkpoints (the optimisers are in modules/optim/optim.hpp).
///
/// \code
///   #include "modules/nn/nn.hpp"
///   #include "modules/optim/optim.hpp"
///   using namespace gradlab;
///
///   nn::Sequential net(nn::Linear(3072, 50, "he"), nn::ReLU(), nn::Linear(50, 10));
///   nn::CrossEntropyLoss criterion;
///   optim::SGD optimizer(net.parameters(), {.lr = 1e-3, .momentum = 0.9});
///   optimizer.zero_grad();
///   Tensor loss = criterion(net(x), y) + nn::l2_penalty(nn::weight_matrices(net.parameters()), 1e-3);
///   loss.backward();
///   optimizer.step();
///   net.save("checkpoints/two_layer");
/// \endcode

#include "modules/nn/checkpoint.hpp"
#include "modules/nn/init.hpp"
#include "modules/nn/layers.hpp"
#include "modules/nn/losses.hpp"
#include "modules/nn/module.hpp"
